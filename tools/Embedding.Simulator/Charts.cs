using System.Globalization;
using ScottPlot;

namespace Embedding.Simulator;

public static class Charts
{
    /// <summary>Offered load per minute (tokens/s) and GPU replicas billed over the day, elastic runs against fixed.</summary>
    public static void LoadAndReplicas(IReadOnlyList<TraceRequest> trace, IReadOnlyList<(string Label, SimulationResult Result)> elasticRuns, SimulationResult fixedReplicas, string path, string title)
    {
        var (hours, load) = LoadPerMinute(trace);
        var plot = new Plot();
        var loadLine = plot.Add.Scatter(hours, load.Select(x => x / 1000).ToArray());
        loadLine.LegendText = "offered load (thousand tokens/s, per minute)";
        loadLine.MarkerSize = 0;
        loadLine.LineWidth = 1;

        var most = 1.0;
        foreach (var (label, elastic) in elasticRuns)
        {
            var steps = elastic.Replicas.Select(r => r.Time / 3600).Append(24.0).ToArray();
            var counts = elastic.Replicas.Select(r => (double)r.Replicas).Append(elastic.Replicas[^1].Replicas).ToArray();
            most = Math.Max(most, counts.Max());
            var replicas = plot.Add.Scatter(steps, counts);
            replicas.ConnectStyle = ConnectStyle.StepHorizontal;
            replicas.LegendText = $"{label}: GPU replicas (right axis)";
            replicas.MarkerSize = 0;
            replicas.LineWidth = 2;
            replicas.Axes.YAxis = plot.Axes.Right;
        }

        var fixedLine = plot.Add.Scatter(new[] { 0.0, 24.0 }, new[] { (double)fixedReplicas.Replicas[0].Replicas, fixedReplicas.Replicas[0].Replicas });
        fixedLine.LegendText = "fixed: GPU replicas (right axis)";
        fixedLine.MarkerSize = 0;
        fixedLine.LinePattern = LinePattern.Dashed;
        fixedLine.Axes.YAxis = plot.Axes.Right;

        plot.Title(title);
        plot.Axes.Bottom.Label.Text = "hour of day";
        plot.Axes.Left.Label.Text = "thousand tokens/s";
        plot.Axes.Right.Label.Text = "GPU replicas";
        plot.Axes.SetLimitsX(0, 24);
        plot.Axes.SetLimitsY(0, most + 0.5, plot.Axes.Right);
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(path, 1400, 560);
    }

    public static void WriteMinuteCsv(IReadOnlyList<TraceRequest> trace, SimulationResult elastic, string path)
    {
        var (hours, load) = LoadPerMinute(trace);
        using var writer = new StreamWriter(path);
        writer.WriteLine("minute,offered_tokens_per_second,elastic_replicas");
        var j = 0;
        for (var m = 0; m < hours.Length; m++)
        {
            while (j + 1 < elastic.Replicas.Count && elastic.Replicas[j + 1].Time <= m * 60) j++;
            writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{m},{load[m]:F0},{elastic.Replicas[j].Replicas}"));
        }
    }

    private static (double[] Hours, double[] TokensPerSecond) LoadPerMinute(IReadOnlyList<TraceRequest> trace)
    {
        var minutes = new double[24 * 60];
        foreach (var r in trace) minutes[Math.Min(minutes.Length - 1, (int)(r.Arrival / 60))] += r.Tokens;
        return (Enumerable.Range(0, minutes.Length).Select(m => m / 60.0).ToArray(), minutes.Select(t => t / 60).ToArray());
    }
}
