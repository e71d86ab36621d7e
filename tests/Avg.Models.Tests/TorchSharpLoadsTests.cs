using Avg.Models.Runtime;
using Avg.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace Avg.Models.Tests;

[Trait(TestCategory.Name, TestCategory.Unit)]
public class TorchSharpLoadsTests
{
    [Fact]
    public void A_tiny_model_trains_on_a_fresh_checkout()
    {
        var device = TorchRuntime.Select("auto");
        torch.manual_seed(7);
        using var scope = torch.NewDisposeScope();

        // y = 3x - 2 plus a fixed nonlinearity; a two-layer MLP must fit it.
        var x = torch.linspace(-1, 1, 64, device: device).reshape(64, 1);
        var y = 3 * x - 2 + 0.5 * torch.sin(4 * x);
        var model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1)).to(device);
        var optimizer = optim.Adam(model.parameters(), lr: 0.05);

        float first = 0, last = 0;
        for (var step = 0; step < 200; step++)
        {
            using var stepScope = torch.NewDisposeScope();
            optimizer.zero_grad();
            var loss = nn.functional.mse_loss(model.call(x), y);
            loss.backward();
            optimizer.step();
            var value = loss.item<float>();
            if (step == 0) first = value;
            last = value;
        }

        first.ShouldBeGreaterThan(1f);
        last.ShouldBeLessThan(first / 50);
    }
}
