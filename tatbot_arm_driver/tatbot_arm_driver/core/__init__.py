"""Pure core of tatbot_arm_driver: no rclpy import anywhere below this package."""
