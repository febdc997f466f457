"""ros2 launch tatbot_bringup record.launch.py [name:=value ...]

Thin wrapper over tatbot_bringup.system.RECORD (the same description that
`./tatbot launch record` runs without a ROS distro). `ros2 launch tatbot_bringup
record.launch.py -s` lists the arguments.
"""

from launch import LaunchDescription

from tatbot_bringup.launch_support import launch_system
from tatbot_bringup.system import RECORD


def generate_launch_description():
    return LaunchDescription(launch_system(RECORD))
