"""Pure core of the policy node (no rclpy): feature checks, observation assembly,
chunk timing and blending, and the LeRobot checkpoint runner."""
