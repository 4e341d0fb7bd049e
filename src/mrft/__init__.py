"""mrft: meta-reinforcement fine-tuning for PyTorch.

Pre-train one policy across many tasks so that it adapts to a new task in few
environment steps, and measure that claim against GRPO and PPO with seeds and
confidence intervals.
"""

__version__ = "0.1.0"
