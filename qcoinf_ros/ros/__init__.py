"""ROS 2 glue shared by the nodes: QoS profiles, parameter declaration, child processes."""
