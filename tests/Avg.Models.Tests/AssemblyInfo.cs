// Torch's global generator is seeded by model constructors; parallel tests would interleave it.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
