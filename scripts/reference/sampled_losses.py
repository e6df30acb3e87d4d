"""Sampled softmax and gBCE in PyTorch, as their authors' code computes them, on inputs RecKit
wrote (a JSON file: the head's weights and biases, the states, each state's ids, target first).
Prints the losses and autograd's gradients as JSON.

gBCE follows gSASRec's training code (Petrov & Macdonald, RecSys 2023, github.com/asash/gsasrec,
train_gsasrec.py): alpha = K / (N - 1), beta = alpha * ((1 - 1/alpha) * t + 1/alpha), the positive
logit transformed to log(1 / (sigmoid(z)^(-beta) - 1)) with its clamps, then BCEWithLogits with the
mean over all logits. Sampled softmax is cross entropy of z - log Q over the target and its
negatives (TensorFlow's sampled_softmax_loss, Yi et al. 2019). BPR-max follows GRU4Rec's official
PyTorch code (github.com/hidasib/GRU4Rec_PyTorch_Official, bpr_max_loss_with_elu): ELU on the
logits, a softmax over the row with the target's column masked (softmax_neg), then
sum(-log(sum(sigmoid(target - O) * softmax) + 1e-24) + bpreg * sum(O^2 * softmax)) over the rows,
divided by the batch size."""
import json
import sys

import torch

torch.set_default_dtype(torch.float64)
x = json.load(open(sys.argv[1]))
W = torch.tensor(x["W"], requires_grad=True)
b = torch.tensor(x["b"], requires_grad=True)
S = torch.tensor(x["S"], requires_grad=True)
ids = torch.tensor(x["ids"])  # B x (K + 1) rows, target first (0-based rows of W)
logits = (W[ids] * S[:, None, :]).sum(-1) + b[ids]

out = {}
if x["kind"] == "gbce":
    K, N, t = x["negatives"], x["items"], x["t"]
    alpha = K / (N - 1)
    beta = alpha * ((1 - 1 / alpha) * t + 1 / alpha)
    gt = torch.zeros_like(logits)
    gt[:, 0] = 1
    positive_logits = logits[:, 0:1].to(torch.float64)
    negative_logits = logits[:, 1:].to(torch.float64)
    eps = 1e-10
    positive_probs = torch.clamp(torch.sigmoid(positive_logits), eps, 1 - eps)
    positive_probs_adjusted = torch.clamp(positive_probs.pow(-beta), 1 + eps, torch.finfo(torch.float64).max)
    to_log = torch.clamp(torch.div(1.0, (positive_probs_adjusted - 1)), eps, torch.finfo(torch.float64).max)
    positive_logits_transformed = to_log.log()
    z = torch.cat([positive_logits_transformed, negative_logits], -1)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z, gt)
    out["beta"] = beta
elif x["kind"] == "bpr-max":
    O = logits
    if x["elu"] > 0:
        O = torch.nn.functional.elu(O, x["elu"])
    hm = torch.ones_like(O)
    hm[:, 0] = 0  # the target's column, as GRU4Rec masks the diagonal
    Om = O * hm
    e_x = torch.exp(Om - Om.max(dim=1, keepdim=True)[0]) * hm
    softmax_scores = e_x / e_x.sum(dim=1, keepdim=True)
    target_scores = O[:, 0:1]
    loss = torch.sum(
        -torch.log(torch.sum(torch.sigmoid(target_scores - O) * softmax_scores, dim=1) + 1e-24)
        + x["bpreg"] * torch.sum((O**2) * softmax_scores, dim=1)
    ) / O.shape[0]
else:
    logq = torch.tensor(x["logQ"])[ids]
    target = torch.zeros(ids.shape[0], dtype=torch.long)
    loss = torch.nn.functional.cross_entropy(logits - logq, target)
loss.backward()
out["loss"] = loss.item()
out["dS"] = S.grad.tolist()
out["dW"] = W.grad.tolist()
out["db"] = b.grad.tolist()
print(json.dumps(out))
