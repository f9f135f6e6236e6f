"""Compute and memory accounting for XuanYuan models: parameter counts, FLOPs per token and MFU (`flops`),
per-GPU memory under ZeRO-2/ZeRO-3/FSDP (`memory`), and the stage shapes the recipe YAMLs train with
(`workloads`). Pure arithmetic on config fields: nothing here imports torch."""
