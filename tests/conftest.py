"""Settings every suite shares. Suites keep their own fixtures in their folders."""

from __future__ import annotations

import os

# BLAS threads make scikit-learn many times slower on 2 cores; telemetry needs a network.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
