"""The environment layer: fingerprint, rules, probes, diff, Dockerfile. See README.md beside this file.

Importing this package does not import torch; collecting a fingerprint or running probes does.
Rules and probes report typed findings (:class:`RuleFinding`, :class:`ProbeFinding`); the
documents ``checkup`` and ``judge_file`` return hold their ``to_dict()`` form.
"""

from torchwarden.env.diff import diff as diff_reports
from torchwarden.env.dockerfile import DockerSpec as DockerSpec
from torchwarden.env.dockerfile import render as render_dockerfile
from torchwarden.env.doctor import checkup as checkup
from torchwarden.env.doctor import judge_file as judge_file
from torchwarden.env.fingerprint import collect as collect_fingerprint
from torchwarden.env.probes import PROBES as PROBES
from torchwarden.env.probes import Probe as Probe
from torchwarden.env.probes.runner import run_probes as run_probes
from torchwarden.env.report import SCHEMA as SCHEMA
from torchwarden.env.report import exit_code as exit_code
from torchwarden.env.report import load as load
from torchwarden.env.report import save as save
from torchwarden.env.rules import RULES as RULES
from torchwarden.env.rules import Rule as Rule
from torchwarden.env.rules import evaluate as evaluate_rules
from torchwarden.errors import EnvArgumentError as EnvArgumentError
from torchwarden.errors import EnvError as EnvError
from torchwarden.errors import FingerprintError as FingerprintError
from torchwarden.errors import ProbeError as ProbeError
from torchwarden.findings import ProbeFinding as ProbeFinding
from torchwarden.findings import RuleFinding as RuleFinding

__all__ = [
    "PROBES",
    "RULES",
    "SCHEMA",
    "DockerSpec",
    "EnvArgumentError",
    "EnvError",
    "FingerprintError",
    "Probe",
    "ProbeError",
    "ProbeFinding",
    "Rule",
    "RuleFinding",
    "checkup",
    "collect_fingerprint",
    "diff_reports",
    "evaluate_rules",
    "exit_code",
    "judge_file",
    "load",
    "render_dockerfile",
    "run_probes",
    "save",
]
