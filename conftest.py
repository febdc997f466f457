"""Workspace-wide pytest set-up: shared ROS fixtures live in test/tatbot_testing."""

pytest_plugins = ["tatbot_testing.fixtures"]
