using Avg.Models.Generation;
using Avg.Tests.Support;
using Shouldly;
using Xunit;

namespace Avg.Models.Tests.Generation;

[Trait(TestCategory.Name, TestCategory.Unit)]
public sealed class TeacherTargetsTests
{
    // Four train images in 2-D with two vokens each (N = 3): i0 and i1 share the first voken 0.
    private static readonly float[] Images = [1, 0, 0, 1, 1, 0, -1, 0];
    private static readonly int[] Vokens = [0, 1, 0, 2, 1, 1, 2, 0];

    [Fact]
    public void Targets_sum_the_teachers_softmax_over_images_along_the_captions_own_path()
    {
        // One caption of image 0 pointing at (2, 0): cosines 1, 0, 1, −1 with the four images; τ = 1.
        var targets = TeacherTargets.Compute([2, 0], Images, width: 2, captionImage: [0], Vokens, levels: 2, vokens: 3, temperature: 1);

        double e = Math.E, z = (2 * e) + 1 + (1 / e);
        // Level 1: all images, grouped by their first voken.
        targets[0].ShouldBe((float)((e + 1) / z), 1e-5);
        targets[1].ShouldBe((float)(e / z), 1e-5);
        targets[2].ShouldBe((float)(1 / e / z), 1e-5);
        // Level 2: only the images under the caption's own first voken (i0 → 1, i1 → 2), renormalised.
        targets[3].ShouldBe(0f, 1e-6);
        targets[4].ShouldBe((float)(e / (e + 1)), 1e-5);
        targets[5].ShouldBe((float)(1 / (e + 1)), 1e-5);
    }

    [Fact]
    public void A_prefix_the_teacher_gives_no_mass_falls_back_to_the_captions_own_voken()
    {
        // The caption of image 0 points at image 3; at τ = 0.01 the teacher puts all its mass on image 3.
        var targets = TeacherTargets.Compute([-1, 0], Images, width: 2, captionImage: [0], Vokens, levels: 2, vokens: 3, temperature: 0.01);

        targets[2].ShouldBe(1f, 1e-5); // level 1: image 3's first voken
        targets[4].ShouldBe(1f, 1e-5); // level 2 under voken 0: image 0's own second voken, not NaN
        targets.Sum().ShouldBe(2f, 1e-4);
    }

    [Fact]
    public void Captions_are_processed_in_chunks_with_the_same_result()
    {
        float[] captions = [1, 0, 0, 1, -1, 0, 1, 1, 0.5f, -1];
        int[] owners = [0, 1, 3, 2, 1];
        var whole = TeacherTargets.Compute(captions, Images, 2, owners, Vokens, 2, 3, temperature: 0.5, chunk: 256);
        var chunked = TeacherTargets.Compute(captions, Images, 2, owners, Vokens, 2, 3, temperature: 0.5, chunk: 2);

        chunked.ShouldBe(whole);
        for (var row = 0; row < 10; row++) whole.AsSpan(row * 3, 3).ToArray().Sum().ShouldBe(1f, 1e-5);
    }

    [Fact]
    public void Ranking_mass_is_the_log_sum_of_the_teachers_exponentiated_cosines_over_the_images_given()
    {
        // Vectors need not be unit length: (2, 0) and (3, 0) are the same direction.
        var ranking = new TwoTowerRanking([2, 0, 0, 5], Images, width: 2, temperature: 0.5);

        ranking.Captions.ShouldBe(2);
        ranking.Images.ShouldBe(4);
        ranking.LogMass(0, [0]).ShouldBe(2, 1e-6);                                    // cos 1 / 0.5
        ranking.LogMass(0, [0, 1, 3]).ShouldBe(Math.Log(Math.Exp(2) + 1 + Math.Exp(-2)), 1e-6);
        ranking.LogMass(1, [1, 2]).ShouldBe(Math.Log(Math.Exp(2) + 1), 1e-6);         // caption 1 points at image 1
        ranking.LogMass(0, []).ShouldBe(double.NegativeInfinity);
    }
}
