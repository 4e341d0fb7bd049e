"""Meta-reinforcement fine-tuning: adapting a meta-trained policy to a new task."""
