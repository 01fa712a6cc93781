"""How passwords are hashed: Argon2id at the cost OWASP gives as its minimum, not Django's
default PBKDF2 (1,000,000 iterations of SHA-256).

OWASP's Password Storage Cheat Sheet recommends Argon2id first, at no less than 19 MiB, 2
passes and 1 lane (this), and PBKDF2-HMAC-SHA256 at no less than 600,000 iterations where FIPS
compliance requires PBKDF2. Argon2id is memory-hard: a guessing rig pays for memory as well as
for arithmetic.

What changes here is the CPU a login costs the server: 257 ms with Django's PBKDF2 (spent
outside the interpreter lock, on a core the pages need while a class logs in), 22 ms with this
(docs/PERFORMANCE.md, "Passwords: Argon2id at OWASP's minimum cost"). One lane: Django's own
Argon2 setting uses 8, which runs a check on 8 threads and takes every core at once.

A stored hash names its algorithm and its costs, so hashes made before (PBKDF2, or Argon2 with
other costs) still verify, and Django re-hashes a password with these costs at its next login.
To make guessing dearer, raise `time_cost` or `memory_cost` (DEPLOY.md, "Sizing").
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class Argon2idOwaspMinimum(Argon2PasswordHasher):
    time_cost = 2  # passes over the memory
    memory_cost = 19 * 1024  # KiB: 19 MiB
    parallelism = 1  # lanes, each on a thread of its own while a check runs
