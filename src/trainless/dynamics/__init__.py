"""Dynamics: the linearized model's training in function space, from f0, Theta, the labels and the optimizer.

Engines (:class:`Engine`): exact discrete-time SGD, the paper's ODE (LSODA) and SDE (Euler-Maruyama), and
the closed form for MSE. Time is counted in optimizer steps; continuous time is t = sum of lr / (1 - m).
"""

from ._discrete import KernelUpdate, MomentumCarry, MomentumSegment
from ._eps import EpsDefinition, EpsStatus, EpsTime, check_eps, epsilon_time, epsilon_times, smooth
from ._heldout import HeldOut
from ._modes import (
    MIN_FIT_POINTS,
    PowerLaw,
    cumulative_share,
    default_fit_window,
    fit_power_law,
    flow_factors,
    mode_factors,
    mse_flow_curve,
    mse_mode_curve,
    squared_loss_stable,
)
from ._operator import KernelOperator, Spectrum
from ._schedule import SGDSchedule, constant_schedule
from ._simulate import Engine, SDENoise, simulate
from ._trajectory import Trajectory, TrajectoryStatus

__all__ = [
    "MIN_FIT_POINTS",
    "Engine",
    "EpsDefinition",
    "EpsStatus",
    "EpsTime",
    "HeldOut",
    "KernelOperator",
    "KernelUpdate",
    "MomentumCarry",
    "MomentumSegment",
    "PowerLaw",
    "SDENoise",
    "SGDSchedule",
    "Spectrum",
    "Trajectory",
    "TrajectoryStatus",
    "check_eps",
    "constant_schedule",
    "cumulative_share",
    "default_fit_window",
    "epsilon_time",
    "epsilon_times",
    "fit_power_law",
    "flow_factors",
    "mode_factors",
    "mse_flow_curve",
    "mse_mode_curve",
    "simulate",
    "smooth",
    "squared_loss_stable",
]
