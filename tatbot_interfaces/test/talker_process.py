"""Helper process for test_dds: publishes EpisodeEvent and PolicyStatus until killed."""

import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from tatbot_interfaces.msg import EpisodeEvent, PolicyStatus


class Talker(Node):
    def __init__(self):
        super().__init__("tatbot_test_talker")
        latched = QoSProfile(
            depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.episode_pub = self.create_publisher(EpisodeEvent, "/tatbot/episode", latched)
        self.status_pub = self.create_publisher(PolicyStatus, "/vla_policy/status", 10)
        self.count = 0
        self.create_timer(0.02, self.tick)

    def tick(self):
        self.count += 1
        stamp = self.get_clock().now().to_msg()
        self.episode_pub.publish(EpisodeEvent(event=EpisodeEvent.START, index=self.count, task="from talker"))
        status = PolicyStatus(state=PolicyStatus.STATE_RUNNING, step=self.count, publish_rate_hz=50.0)
        status.header.stamp = stamp
        self.status_pub.publish(status)


def main():
    rclpy.init()
    node = Talker()
    print("ready", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
