"""System model of the co-inference system: delay and energy, paper section II-D."""

from qcoinf_ros.core.system.model import (
    AffineAgentCost,
    agent_delay,
    agent_energy,
    AgentCostModel,
    CalibratedAgentCost,
    comm_delay,
    comm_energy,
    NominalAgentCost,
    server_delay,
    server_energy,
    SystemParams,
    total_delay,
    total_energy,
)

__all__ = [
    'AffineAgentCost',
    'AgentCostModel',
    'CalibratedAgentCost',
    'NominalAgentCost',
    'SystemParams',
    'agent_delay',
    'agent_energy',
    'comm_delay',
    'comm_energy',
    'server_delay',
    'server_energy',
    'total_delay',
    'total_energy',
]
