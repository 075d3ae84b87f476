"""A reference CRM server: the contract of docs/crm-connector.yaml over a data file in devstack/demo_data.json's format.

Dev tooling, not shipped: `python -m devstack.reference_crm --data devstack/demo_data.json --port 8765`. Everything
is in memory, loaded from the file at start; writes are never saved back to the file.
"""

from devstack.reference_crm.data import CrmData, load

__all__ = ["CrmData", "load"]
