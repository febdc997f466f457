"""Pure core of tatbot_recorder: no rclpy import anywhere below this package."""
