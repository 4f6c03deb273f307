"""Teacher networks and data in the proportional regime (docs/theory.md sections 1, 3.3, 5).

Public API::

    spec = TeacherSpec(activations=("tanh", "tanh"), widths=(1.0, 1.0), channel="gaussian", noise=0.1)
    teacher = sample_teacher(spec, d=100, seed=0)
    train = teacher.sample(n=200, seed=1)            # Data(x, f_star, y, attrs)
    stats = measure_teacher(teacher)                 # rho_T, Var f*, Delta_eff_T
    law = teacher_law(spec, 100, range(1000))        # those stats over 1000 teachers
    glm = sample_glm_teacher(spec, 100, 0, rho=..., delta_eff=...)   # equivalent GLM

No JAX is imported here.
"""

from .activations import Activation, activation_names, get_activation, register_activation
from .data import Data
from .estimate import Estimate
from .linear_part import (
    LAW_FIRST_SEED,
    TeacherLaw,
    TeacherStats,
    linear_overlaps,
    measure_teacher,
    seed_teacher_stats,
    teacher_law,
)
from .network import layer_activations, network_output
from .spec import CHANNELS, TeacherSpec, check_dimension
from .teacher import (
    GLMTeacher,
    ProblemSeeds,
    Teacher,
    apply_channel,
    num_samples,
    problem_seeds,
    sample_glm_teacher,
    sample_teacher,
)

__all__ = [
    "CHANNELS",
    "LAW_FIRST_SEED",
    "Activation",
    "Data",
    "Estimate",
    "GLMTeacher",
    "ProblemSeeds",
    "Teacher",
    "TeacherLaw",
    "TeacherSpec",
    "TeacherStats",
    "activation_names",
    "apply_channel",
    "check_dimension",
    "get_activation",
    "layer_activations",
    "linear_overlaps",
    "measure_teacher",
    "network_output",
    "num_samples",
    "problem_seeds",
    "register_activation",
    "sample_glm_teacher",
    "sample_teacher",
    "seed_teacher_stats",
    "teacher_law",
]
