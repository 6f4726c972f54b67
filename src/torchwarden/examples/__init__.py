"""Workloads that ship with torchwarden: ``torchwarden run`` with no script runs ``transformer``."""
