"""What the embedded worlds (digits, shapes) share: the EDM-preconditioned pipeline base."""
