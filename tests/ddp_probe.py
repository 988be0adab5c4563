"""Run under torchrun by test_distributed: one rank of the real pretraining expert, counting its all-reduces.

Prints, from rank 0, one JSON line: for each of 4 micro-batches (gradient accumulation 2), how many gradient
buckets DDP all-reduced during its backward, and whether the ranks' gradients were equal afterwards.
"""
import json
import sys

import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook

from distilbert_pretrain.pretrain_expert import UpstreamPretrainExpert
from downstream_hooks.distributed import stop_process_group

datarc, config = json.loads(sys.argv[1]), json.loads(sys.argv[2])
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
expert = UpstreamPretrainExpert(datarc, config, device="cpu")
expert.distribute(rank, world, gradient_accumulate_steps=2, seed=0)
reduced = []


def counting_hook(state: object, bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
    reduced.append(bucket.index())
    return allreduce_hook(None, bucket)


expert.model.register_comm_hook(None, counting_hook)
report = []
batches = (batch for _ in range(4) for batch in expert.get_train_dataloader())  # as the runner: epoch after epoch
for micro in range(4):
    before = len(reduced)
    loss, _ = expert(next(batches), global_step=micro // 2 + 1)
    (loss / 2).backward()
    grads = torch.cat([p.grad.flatten() for p in expert.model.parameters() if p.grad is not None])
    everyone = [torch.empty_like(grads) for _ in range(world)]
    dist.all_gather(everyone, grads)
    report.append({"all_reduces": len(reduced) - before,
                   "grads_equal": all(torch.equal(everyone[0], g) for g in everyone[1:])})
    if micro % 2 == 1:
        expert.model.zero_grad()
if rank == 0:
    print(json.dumps(report), flush=True)
# DDP's reducer (and the hook's futures) hold the process group: release them before the group goes, or a rank
# can abort at exit ("terminate called without an active exception"; seen once with two test workers busy).
del expert, batches
stop_process_group()
