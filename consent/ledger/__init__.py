"""The consent ledger (DESIGN §3.9): sealing history rows in a hash chain, and verifying it.

`canonical` says what of a history row is sealed (its PII-free form), `chain` appends entries
under the head's lock, `verify` recomputes the chain from the sealed rows, `head` publishes it.
See docs/ledger.md for the design and the threat model.
"""
