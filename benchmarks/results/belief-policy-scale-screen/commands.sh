#!/bin/bash
# run from the repository root at commit 8cb57c0
PY=.venv/bin/python
out=benchmarks/results/belief-policy-scale-screen
for env in nav:point market:regimes; do
  steps=200000; [ "$env" = "market:regimes" ] && steps=300000
  name=$(echo $env | tr ':' '_')
  $PY -m mrft train --algo mrft --env $env --total-steps $steps --seed 1 --learning-rate 3e-4 --threads 1 \
     --belief-gradient both --belief-policy-scale 0.1 --runs-dir $out/runs --run-name $name --no-progress > $out/$name.train.log 2>&1
  for i in 0 1 2 3 4; do
    $PY -m mrft adapt $out/runs/$name/checkpoint.pt --task $i --steps 2000 --eval-every 2000 --eval-episodes 16 --num-envs 8 --seed 1 --out $out/$name.adapt$i.json > $out/$name.adapt$i.log 2>&1
  done
done

