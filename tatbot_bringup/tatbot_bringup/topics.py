"""Every tatbot topic, service and action name, once (DESIGN.md's topic table).

Nodes take these as their parameters' defaults (a deployment renames through parameters or ROS
remapping), so no name is written twice. QoS profiles: tatbot_bringup.qos; camera topics:
robot.yaml (``cameras``, ``aligned_depth_topic``).
"""

# arm driver
JOINT_STATES = "/joint_states"
COMMANDED = "/arm_driver/commanded"
JOINT_TRAJECTORY = "/arm_driver/joint_trajectory"
EXECUTE_TRAJECTORY = "/arm_driver/execute_trajectory"  # action
HOLD = "/arm_driver/hold"  # service
GO_TO_POSE = "/arm_driver/go_to_pose"  # service
DIAGNOSTICS = "/diagnostics"

# episodes and stencils (latched)
EPISODE = "/tatbot/episode"
STENCIL = "/tatbot/stencil"
RECORDER_START = "/recorder/start_episode"  # service
RECORDER_STOP = "/recorder/stop_episode"  # service

# human corrections
JOY = "/joy"
INTERVENTION = "/teleop/intervention"  # latched

# the policy
POLICY_STATUS = "/vla_policy/status"
POLICY_RUN = "/vla_policy/run"  # action
CHUNK_MARKERS = "/vla_policy/chunk_markers"
