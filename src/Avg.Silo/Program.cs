return await Avg.Silo.AvgSiloHost.RunAsync(args).ConfigureAwait(false);
