#!/bin/bash
# nav:point x3 MRFT pre-trainings adapted without the KL bound (and one bounded rerun as a reproduction check)
set -u
PY=.venv/bin/python
R=benchmarks/results/budget-curve/x3/runs/nav_point/mrft
O=benchmarks/results/budget-curve/x3-nav-no-kl-bound
export OMP_NUM_THREADS=1 PYTHONPATH=src
[ -f $O/bounded_s3_i0.json ] || nice -n 5 $PY -m mrft adapt $R/seed3/train/checkpoint.pt --task 0 --steps 16000 --eval-every 4000 --eval-episodes 16 --num-envs 8 --seed 3 --out $O/bounded_s3_i0.json
for s in 1 2 3 4 5; do for k in 0 1 2 3 4; do
  f=$O/nobound_s${s}_i${k}.json
  [ -f $f ] || nice -n 5 $PY -m mrft adapt $R/seed$s/train/checkpoint.pt --task $k --steps 16000 --eval-every 4000 --eval-episodes 16 --num-envs 8 --seed $s --no-kl-bound --out $f
done; done
echo done
