"""Decisions people can see, explain, override and audit: built on the decision ledger.

* :mod:`.explanation`: a ledger record with its human-readable explanation (``GET
  /v1/decisions/{id}``, the workbench's decision page);
* :mod:`.notice`: the printable adverse action notice of a decline;
* :mod:`.queue`: the review queue (decisions in the "review" band without a human review yet);
* :mod:`.record`: the decision record of one scored application, as the ledger stores it.
"""
