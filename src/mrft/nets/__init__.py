"""Networks: IMPALA CNN and MLP torsos, actor-critic heads for discrete and continuous actions."""

from mrft.nets.actor_critic import ActorCritic, build_actor_critic
from mrft.nets.torsos import MLP, ImpalaCNN

__all__ = ["ActorCritic", "ImpalaCNN", "MLP", "build_actor_critic"]
