namespace Avg.Models;

/// <summary>One report from a training loop, for progress bars and logs: where the loop is and its latest loss.</summary>
/// <param name="Stage">Which model is training, e.g. "dual-encoder" or "tokenizer".</param>
/// <param name="Epoch">Zero-based epoch.</param>
/// <param name="Step">One-based step over the whole run.</param>
/// <param name="TotalSteps">Steps the whole run will take.</param>
/// <param name="Loss">Loss of the latest step.</param>
public sealed record TrainingProgress(string Stage, int Epoch, int Step, int TotalSteps, double Loss);

/// <summary>What a finished training run did, for manifests and throughput budgeting.</summary>
/// <param name="Steps">Optimiser steps taken.</param>
/// <param name="FinalLoss">Mean loss over the last epoch.</param>
/// <param name="FirstEpochLoss">Mean loss over the first epoch, to show the loss fell.</param>
/// <param name="Elapsed">Wall time of the run.</param>
/// <param name="ExamplesPerSecond">Training examples processed per second of wall time.</param>
public sealed record TrainingReport(int Steps, double FirstEpochLoss, double FinalLoss, TimeSpan Elapsed, double ExamplesPerSecond);
