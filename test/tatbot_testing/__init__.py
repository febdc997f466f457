"""Test helpers shared by every tatbot package (rclpy fixtures, waits with deadlines)."""
