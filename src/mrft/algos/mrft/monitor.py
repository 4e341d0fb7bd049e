"""``monitor/task_feature_distance``: how far task embeddings lie from what training saw.

One EMA centroid of the task embedding ``z`` is kept per train task (a Meta-World class,
a Procgen game, ...). During meta-training the distance of the batch's embeddings to the
nearest centroid measures how spread out the encoder's picture of the task family is;
on a held-out task it says how far the new task is from anything seen in training.
"""

from __future__ import annotations

import torch


class TaskFeatureMonitor:
    def __init__(self, num_tasks: int, embed_dim: int, ema: float = 0.99):
        self.ema = ema
        self.centroids = torch.zeros(num_tasks, embed_dim)
        self.seen = torch.zeros(num_tasks, dtype=torch.bool)

    @torch.no_grad()
    def distance(self, z: torch.Tensor) -> float | None:
        """Mean Euclidean distance of each row of ``z`` to its nearest seen centroid."""
        if not self.seen.any() or z.shape[0] == 0:
            return None
        centroids = self.centroids[self.seen].to(z.device, z.dtype)
        return float(torch.cdist(z, centroids).min(dim=1).values.mean())

    @torch.no_grad()
    def update(self, z: torch.Tensor, task_ids: torch.Tensor) -> None:
        z = z.detach().cpu().float()
        task_ids = task_ids.cpu()
        for task in task_ids.unique().tolist():
            mean = z[task_ids == task].mean(dim=0)
            if self.seen[task]:
                self.centroids[task] = self.ema * self.centroids[task] + (1 - self.ema) * mean
            else:
                self.centroids[task] = mean
                self.seen[task] = True

    def state_dict(self) -> dict:
        return {"centroids": self.centroids.clone(), "seen": self.seen.clone()}

    def load_state_dict(self, state: dict) -> None:
        if "centroids" in state:
            self.centroids = state["centroids"].clone()
            self.seen = state["seen"].clone()
