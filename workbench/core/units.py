"""The one unit system: SI bytes and seconds inside, decimal MB and GB at the edge.

Every quantity a study records is in bytes or seconds. A page, a plot or a budget that speaks in MB or GB
divides by these constants, so that no two modules can disagree on what a megabyte is (07 once read 03's
decimal MB as 2**20 bytes and overstated every artifact by 4.9 %). MiB appears only where a library's own
figure is binary.
"""

from __future__ import annotations

MB = 10**6  # decimal, as disk vendors, Apple and the seeds count
GB = 10**9
MIB = 2**20  # binary: only where a library states its figure that way
GIB = 2**30
MILLION = 10**6
BILLION = 10**9
MS = 1e-3  # seconds in a millisecond

MINUTE = 60.0  # seconds in a minute
