"""A connector check for CRM teams: `make check-crm` holds a CRM's API to docs/crm-connector.md and its YAML.

Dev tooling, not shipped. `python -m devstack.check_crm --help` says what it needs and what it writes;
`run_checks(Inputs(...))` runs it from Python and returns one Result per check.
"""

from devstack.check_crm.checks import run_checks
from devstack.check_crm.results import Outcome, Result
from devstack.check_crm.run import BadInput, Inputs

__all__ = ["BadInput", "Inputs", "Outcome", "Result", "run_checks"]
