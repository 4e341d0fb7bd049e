"""Networks: IMPALA CNN and MLP torsos, actor-critic heads for discrete and continuous actions."""

from mrft.nets.actor_critic import ActorCritic, build_actor_critic
from mrft.nets.torsos import MLP, ImpalaCNN

__all__ = ["MLP", "ActorCritic", "ImpalaCNN", "build_actor_critic"]
