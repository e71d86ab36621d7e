// One silo, one browser, 2 cores: one test class at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
