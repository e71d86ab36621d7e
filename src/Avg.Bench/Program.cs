using Avg.Bench;

// `avg-bench silo` is the silo process `avg-bench scale` starts (the same program, so it ships with the benchmark):
// avg-silo's entry point, configured by Avg__* environment variables.
if (args is ["silo", ..])
{
    return await Avg.Silo.AvgSiloHost.RunAsync(args[1..]).ConfigureAwait(false);
}

return await BenchApp.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
