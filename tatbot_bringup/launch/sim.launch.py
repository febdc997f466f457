"""ros2 launch tatbot_bringup sim.launch.py [name:=value ...]

Thin wrapper over tatbot_bringup.system.SIM (the same description that
`./tatbot launch sim` runs without a ROS distro). `ros2 launch tatbot_bringup
sim.launch.py -s` lists the arguments.
"""

from launch import LaunchDescription

from tatbot_bringup.launch_support import launch_system
from tatbot_bringup.system import SIM


def generate_launch_description():
    return LaunchDescription(launch_system(SIM))
