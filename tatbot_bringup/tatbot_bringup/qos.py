"""QoS profiles of every tatbot topic, in one module (DESIGN.md topic table).

Every node of every tatbot package takes its profiles from here, so publisher
and subscriber always match.
"""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

# /joint_states, /arm_driver/commanded: reliable, keep last 10
JOINT_STATES = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

# /arm_driver/joint_trajectory (policy chunks, stroke_demo) and previews: reliable, small depth
COMMANDS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)

# camera images and camera_info: sensor data (best effort, keep last 5), as realsense2_camera
SENSOR_DATA = qos_profile_sensor_data

# latched configuration and events (/tatbot/stencil, /tatbot/episode): reliable, transient local
LATCHED = QoSProfile(
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
    history=HistoryPolicy.KEEP_LAST,
)

# /vla_policy/status, /vla_policy/chunk_markers, /diagnostics: reliable, keep last 10
STATUS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)
