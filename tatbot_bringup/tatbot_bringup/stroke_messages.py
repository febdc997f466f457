"""Stroke pairs as ROS messages, shared by stroke_demo and evaluations."""

from __future__ import annotations

from geometry_msgs.msg import Point

from tatbot_bringup.strokes import StrokePair
from tatbot_interfaces.msg import Stencil


def stencil_message(pair: StrokePair, name: str, frame_id: str, stamp) -> Stencil:
    """The drawn part of both strokes as a Stencil (base frame, metres)."""
    msg = Stencil(name=name, left_description=pair.left.description, right_description=pair.right.description)
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.left = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in pair.left.drawn]
    msg.right = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in pair.right.drawn]
    return msg
