"""fjshare: a two-tier federated catalogue and exchange node.

Implements the Fujian Province Measures for the Administration of Government Information
Sharing (闽政办〔2010〕280号). See DESIGN.md in the project for the map of packages.
"""

__version__ = "0.1.0"
