package certledger.interop;

import java.io.File;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.verapdf.gf.foundry.VeraGreenfieldFoundryProvider;
import org.verapdf.pdfa.Foundries;
import org.verapdf.pdfa.PDFAParser;
import org.verapdf.pdfa.PDFAValidator;
import org.verapdf.pdfa.flavours.PDFAFlavour;
import org.verapdf.pdfa.results.ValidationResult;
import org.verapdf.pdfa.validation.profiles.Rule;
import org.verapdf.pdfa.validation.profiles.RuleId;

/** veraPDF (its own greenfield parser): the failed rules of each file for one PDF/A flavour. */
final class PdfA {
    private PdfA() {}

    static List<Map<String, Object>> validate(String flavourId, List<String> files) {
        VeraGreenfieldFoundryProvider.initialise();
        PDFAFlavour flavour = PDFAFlavour.fromString(flavourId);
        if (flavour == PDFAFlavour.NO_FLAVOUR) {
            throw new IllegalArgumentException("unknown PDF/A flavour " + flavourId);
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (String file : files) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("file", file);
            entry.put("flavour", flavour.getId());
            // Every check runs: the tests list each failed rule, not only the first.
            try (PDFAParser parser = Foundries.defaultInstance().createParser(new File(file), flavour);
                    PDFAValidator validator = Foundries.defaultInstance().createValidator(flavour, false)) {
                ValidationResult result = validator.validate(parser);
                entry.put("compliant", result.isCompliant());
                List<Map<String, Object>> failed = new ArrayList<>();
                result.getFailedChecks().entrySet().stream()
                        .sorted(Comparator.comparing((Map.Entry<RuleId, Integer> e) -> e.getKey().getClause())
                                .thenComparing(e -> e.getKey().getTestNumber()))
                        .forEach(e -> {
                            Rule rule = result.getValidationProfile().getRuleByRuleId(e.getKey());
                            Map<String, Object> item = new LinkedHashMap<>();
                            item.put("clause", e.getKey().getClause());
                            item.put("test", e.getKey().getTestNumber());
                            item.put("description", rule == null ? null : rule.getDescription());
                            item.put("count", e.getValue());
                            failed.add(item);
                        });
                entry.put("failed_rules", failed);
            } catch (Exception e) {
                entry.put("error", Validator.stackTrace(e));
            }
            out.add(entry);
        }
        return out;
    }
}
