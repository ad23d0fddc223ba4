"""`python -m farl_bench` (and `torchrun -m farl_bench`)."""
from farl_bench.cli import main

# Guarded: processes started with `spawn` (DataLoader workers, submitit) import this module again.
if __name__ == "__main__":
    main()
