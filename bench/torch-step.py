#!/usr/bin/python3
"""The PyTorch side of bench/train-speed.ts: one GANomaly step (G and D update) with the network,
losses and optimiser of the reference (samet-akcay/ganomaly: DCGAN encoder/decoder, l2 feature
loss, L1 reconstruction, l2 latent loss, BCE for D, Adam), timed per thread count.

  /usr/bin/python3 bench/torch-step.py [--batch 64] [--isize 32] [--nz 100] [--ngf 64]
      [--steps 8] [--warmup 2] [--threads 1,2] [--layouts contiguous,channels_last]

Layouts: PyTorch's default NCHW tensors, and channels_last (NHWC), with which this CPU build
(Debian's, generic BLAS) sends every convolution and its gradients to oneDNN; the NCHW default
runs ConvTranspose2d and the convolution gradients on its slow im2col path.

Prints one JSON object on stdout: {"torch": version, "rows": [{"threads", "layout", "samples", "errG"}]}.
"""
import argparse
import json
import time

import torch
import torch.nn as nn


def encoder(isize, nz, nc, width, final=True):
    layers = [nn.Conv2d(nc, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    size, ch = isize // 2, width
    while size > 4:
        layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, inplace=True)]
        ch, size = ch * 2, size // 2
    trunk = nn.Sequential(*layers)
    head = nn.Conv2d(ch, nz, 4, 1, 0, bias=False)
    return trunk, head


def decoder(isize, nz, nc, ngf):
    ch, size = ngf // 2, 4
    while size != isize:
        ch, size = ch * 2, size * 2
    layers = [nn.ConvTranspose2d(nz, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU(True)]
    size = 4
    while size < isize // 2:
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
        ch, size = ch // 2, size * 2
    layers += [nn.ConvTranspose2d(ch, nc, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


class NetG(nn.Module):
    def __init__(self, isize, nz, nc, ngf):
        super().__init__()
        t1, h1 = encoder(isize, nz, nc, ngf)
        self.encoder1 = nn.Sequential(t1, h1)
        self.decoder = decoder(isize, nz, nc, ngf)
        t2, h2 = encoder(isize, nz, nc, ngf)
        self.encoder2 = nn.Sequential(t2, h2)

    def forward(self, x):
        z = self.encoder1(x)
        x_hat = self.decoder(z)
        return x_hat, z, self.encoder2(x_hat)


class NetD(nn.Module):
    def __init__(self, isize, nc, ndf):
        super().__init__()
        self.features, head = encoder(isize, 1, nc, ndf)
        self.classifier = nn.Sequential(head, nn.Sigmoid())

    def forward(self, x):
        f = self.features(x)
        return self.classifier(f).view(-1, 1).squeeze(1), f


def weights_init(m):
    name = m.__class__.__name__
    if name.find('Conv') != -1:
        m.weight.data.normal_(0.0, 0.02)
    elif name.find('BatchNorm') != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)


def l2(a, b):
    return torch.mean(torch.pow(a - b, 2))


def measure(args, threads, layout):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    netg = NetG(args.isize, args.nz, 1, args.ngf)
    netd = NetD(args.isize, 1, args.ngf)
    netg.apply(weights_init)
    netd.apply(weights_init)
    opt_g = torch.optim.Adam(netg.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(netd.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce, l1 = nn.BCELoss(), nn.L1Loss()
    x = torch.rand(args.batch, 1, args.isize, args.isize) * 2 - 1
    if layout == 'channels_last':
        netg = netg.to(memory_format=torch.channels_last)
        netd = netd.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    ones = torch.ones(args.batch)
    zeros = torch.zeros(args.batch)
    samples, err_g = [], []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        # optimize_params of the reference: forward_g, forward_d, G step, D step, reinit D on collapse.
        fake, z, z_hat = netg(x)
        pred_real, _ = netd(x)
        pred_fake, _ = netd(fake.detach())
        opt_g.zero_grad()
        adv = l2(netd(x)[1], netd(fake)[1])
        errg = adv * 1 + l1(fake, x) * 50 + l2(z, z_hat) * 1
        errg.backward()
        opt_g.step()
        opt_d.zero_grad()
        errd = (bce(pred_real, ones) + bce(pred_fake, zeros)) * 0.5
        errd.backward()
        opt_d.step()
        if errd.item() < 1e-5:
            netd.apply(weights_init)
        err_g.append(errg.item())
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            samples.append(dt)
    return {'threads': threads, 'layout': layout, 'samples': samples, 'errG': err_g}


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--isize', type=int, default=32)
    p.add_argument('--nz', type=int, default=100)
    p.add_argument('--ngf', type=int, default=64)
    p.add_argument('--steps', type=int, default=8)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', default='1,2')
    p.add_argument('--layouts', default='contiguous,channels_last')
    args = p.parse_args()
    rows = [measure(args, int(t), l) for l in args.layouts.split(',') for t in args.threads.split(',')]
    print(json.dumps({'torch': torch.__version__, 'rows': rows}))


if __name__ == '__main__':
    main()
