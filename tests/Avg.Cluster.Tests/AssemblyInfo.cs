// Clusters and model hosts share 2 cores and TorchSharp's global state: one test class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
