"""Networks: IMPALA CNN and MLP torsos, actor-critic heads for discrete and continuous actions,
and the recurrent actor-critic of RL2."""

from mrft.nets.actor_critic import ActorCritic, build_actor_critic
from mrft.nets.recurrent import RecurrentActorCritic, build_recurrent_actor_critic
from mrft.nets.torsos import MLP, ImpalaCNN

__all__ = ["MLP", "ActorCritic", "ImpalaCNN", "RecurrentActorCritic", "build_actor_critic",
           "build_recurrent_actor_critic"]
