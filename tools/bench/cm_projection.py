#!/usr/bin/env python3
"""CM-literal input projections, the two formulations, forward on the CPU (PyTorch, 2 threads).

"old": the row- and column-major maps as two copies of x and three GEMMs, then a concatenation;
"new" (src/nn/vim2_channel_mixer.cpp since 2026-11-29): one copy of x, one GEMM against [W_in;
W_in with grid-transposed columns; W_z]. Checks both agree, prints the best of two 10-call means per
ViM2-T stage shape. Usage: .venv/bin/python tools/bench/cm_projection.py
"""
import torch, time
import torch.nn.functional as F
torch.manual_seed(0)
torch.set_num_threads(2)
def old(x, w_in, w_z, S, half):
    B,_,_,C = x.shape; L=S*S
    v_row = x.permute(0,3,1,2).reshape(B,C,L)
    us=[F.linear(v_row,w_in)]
    if half==2: us.append(F.linear(x.permute(0,3,2,1).reshape(B,C,L), w_in))
    z=F.linear(v_row,w_z)
    xs=torch.cat(us,2).transpose(1,2).contiguous()
    return xs,z
def new(x, w_in, w_z, S, half):
    B,_,_,C = x.shape; L=S*S; Ec=w_in.shape[0]
    ws=[w_in]
    if half==2: ws.append(w_in.view(Ec,S,S).transpose(1,2).reshape(Ec,L))
    ws.append(w_z)
    v_row = x.permute(0,3,1,2).reshape(B,C,L)
    proj=F.linear(v_row, torch.cat(ws,0))
    z=proj.narrow(2,half*Ec,Ec)
    xs=proj.narrow(2,0,half*Ec).transpose(1,2).contiguous()
    return xs,z
for B in (1,16):
  for (S,C,Ec) in ((56,96,192),(28,192,384),(14,384,768),(7,768,768)):
    x=torch.randn(B,S,S,C); w=torch.randn(2*Ec,S*S)
    w_in,w_z=w[:Ec],w[Ec:]
    a=old(x,w_in,w_z,S,2); b=new(x,w_in,w_z,S,2)
    assert torch.allclose(a[0],b[0],atol=1e-3,rtol=1e-4)
    res=[]
    for f in (old,new,old,new):
        for _ in range(2): f(x,w_in,w_z,S,2)
        t=time.perf_counter(); n=10
        for _ in range(n): f(x,w_in,w_z,S,2)
        res.append((time.perf_counter()-t)/n*1e3)
    print(f"B={B} S={S} C={C} Ec={Ec}: old {min(res[0],res[2]):.2f} ms  new {min(res[1],res[3]):.2f} ms")
