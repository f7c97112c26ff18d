# Times the PyTorch peer's own SplitEval.run (numpy GEMM + torch.topk) on baby-shaped random data, the same
# shapes as test/eval/bench.ts, so that both can be timed side by side under the same machine load.
# Run: /usr/bin/python3 test/eval/peer-eval.py THREADS REPEATS  (needs ../shared/peers, see its README)
import os, sys, time
import numpy as np, scipy.sparse as sp, torch
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/peers'))
import torch_lightgcn as peer
threads = int(sys.argv[1]); reps = int(sys.argv[2])
torch.set_num_threads(threads)
U, I, D = 19445, 7050, 64
rng = np.random.default_rng(7)
ue = torch.from_numpy(rng.uniform(-1, 1, (U, D)).astype(np.float32))
ie = torch.from_numpy(rng.uniform(-1, 1, (I, D)).astype(np.float32))
ntrain = rng.integers(3, 10, U)
rows = np.repeat(np.arange(U), ntrain); cols = rng.integers(0, I, rows.size)
train = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, cols)), shape=(U, I)); train.sum_duplicates(); train.sort_indices()
gt = sp.csr_matrix((np.ones(U, np.float32), (np.arange(U), rng.integers(0, I, U))), shape=(U, I)); gt.sort_indices()
ev = peer.SplitEval(gt, train, I)
times = []
for _ in range(reps):
    t = time.perf_counter(); res = ev.run(ue, ie, 4096, 'numpy'); times.append(time.perf_counter() - t)
print(f"peer SplitEval threads={threads}: " + " / ".join(f"{t:.3f}" for t in times) + f" s, best {min(times):.3f}; recall@20 {res['recall@20']:.5f}")
cpu = []
for _ in range(reps):
    c = time.process_time(); ev.run(ue, ie, 4096, 'numpy'); cpu.append(time.process_time() - c)
print(f"  CPU time all threads: best {min(cpu):.3f} s")
