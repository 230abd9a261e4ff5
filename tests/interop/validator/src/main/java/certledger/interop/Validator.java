package certledger.interop;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import eu.europa.esig.dss.alert.ExceptionOnStatusAlert;
import eu.europa.esig.dss.diagnostic.DiagnosticData;
import eu.europa.esig.dss.diagnostic.TimestampWrapper;
import eu.europa.esig.dss.enumerations.SignatureLevel;
import eu.europa.esig.dss.jaxb.object.Message;
import eu.europa.esig.dss.model.DSSDocument;
import eu.europa.esig.dss.model.FileDocument;
import eu.europa.esig.dss.model.policy.ValidationPolicy;
import eu.europa.esig.dss.model.x509.CertificateToken;
import eu.europa.esig.dss.pades.PAdESSignatureParameters;
import eu.europa.esig.dss.pades.signature.PAdESService;
import eu.europa.esig.dss.pades.validation.PDFDocumentValidator;
import eu.europa.esig.dss.service.crl.OnlineCRLSource;
import eu.europa.esig.dss.service.http.commons.CommonsDataLoader;
import eu.europa.esig.dss.service.http.commons.OCSPDataLoader;
import eu.europa.esig.dss.service.http.commons.TimestampDataLoader;
import eu.europa.esig.dss.service.ocsp.OnlineOCSPSource;
import eu.europa.esig.dss.service.tsp.OnlineTSPSource;
import eu.europa.esig.dss.simplereport.SimpleReport;
import eu.europa.esig.dss.simplereport.jaxb.XmlDetails;
import eu.europa.esig.dss.simplereport.jaxb.XmlMessage;
import eu.europa.esig.dss.simplereport.jaxb.XmlTimestamp;
import eu.europa.esig.dss.spi.DSSUtils;
import eu.europa.esig.dss.spi.exception.DSSExternalResourceException;
import eu.europa.esig.dss.spi.validation.CommonCertificateVerifier;
import eu.europa.esig.dss.spi.x509.CommonTrustedCertificateSource;
import eu.europa.esig.dss.spi.x509.aia.DefaultAIASource;
import eu.europa.esig.dss.validation.policy.ValidationPolicyLoader;
import eu.europa.esig.dss.validation.reports.Reports;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.transform.TransformerFactory;
import javax.xml.transform.dom.DOMSource;
import javax.xml.transform.stream.StreamResult;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * The project's independent-validator program. One JVM start handles many files, because a
 * start costs seconds; the answer is one JSON object on stdout, logs go to stderr.
 *
 * <pre>
 * validate --root ROOT.pem [--policy default|strict|FILE] [--time ISO-8601] FILE... | -
 * extend   --root ROOT.pem --tsa URL --out-dir DIR FILE... | -
 * pdfa     [--flavour 2b] FILE... | -
 * policy   strict          (prints the strict policy, to read or to pass back as a FILE)
 * </pre>
 *
 * "-" reads the files as a JSON list of paths from stdin.
 */
public final class Validator {
    /** The PDF modification checks the strict policy raises from WARN to FAIL. */
    static final List<String> STRICT_CHECKS = List.of("DocMDP", "PdfVisualDifference", "UndefinedChanges");

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Validator() {}

    public static void main(String[] args) throws Exception {
        // stdout carries the JSON answer; DSS's progress messages would only be noise on stderr.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        // PDFBox complains about every CJK font without PostScript names; not a finding.
        System.setProperty("org.slf4j.simpleLogger.log.org.apache.fontbox", "error");
        if (args.length == 0) {
            usage("no command");
        }
        String command = args[0];
        Map<String, String> options = new LinkedHashMap<>();
        List<String> files = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            if (args[i].startsWith("--")) {
                if (i + 1 >= args.length) {
                    usage("option " + args[i] + " needs a value");
                }
                options.put(args[i].substring(2), args[++i]);
            } else {
                files.add(args[i]);
            }
        }
        if (files.equals(List.of("-"))) {
            files = List.of(JSON.readValue(System.in, String[].class));
        }
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("command", command);
        switch (command) {
            case "validate" -> answer.put("files", validate(options, files));
            case "extend" -> answer.put("files", extend(options, files));
            case "pdfa" -> answer.put("files", PdfA.validate(options.getOrDefault("flavour", "2b"), files));
            case "policy" -> {
                if (!files.equals(List.of("strict"))) {
                    usage("policy strict");
                }
                System.out.write(strictPolicy());
                System.out.flush();
                return;
            }
            default -> usage("unknown command " + command);
        }
        JSON.writeValue(System.out, answer);
        System.out.println();
    }

    private static void usage(String why) {
        System.err.println(why);
        System.err.println("usage: validate --root ROOT.pem [--policy default|strict|FILE] [--time ISO] FILE...|-");
        System.err.println("       extend --root ROOT.pem --tsa URL --out-dir DIR FILE...|-");
        System.err.println("       pdfa [--flavour 2b] FILE...|-");
        System.err.println("       policy strict");
        System.exit(2);
    }

    static String required(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            usage("--" + name + " is required");
        }
        return value;
    }

    // ---- validate ------------------------------------------------------------------------

    private static List<Map<String, Object>> validate(Map<String, String> options, List<String> files)
            throws Exception {
        CertificateToken root = DSSUtils.loadCertificate(new File(required(options, "root")));
        ValidationPolicy policy = policy(options.getOrDefault("policy", "default"));
        Date time = options.containsKey("time")
                ? Date.from(OffsetDateTime.parse(options.get("time")).toInstant())
                : null;
        List<Map<String, Object>> out = new ArrayList<>();
        for (String file : files) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("file", file);
            try {
                PDFDocumentValidator validator = new PDFDocumentValidator(new FileDocument(file));
                validator.setCertificateVerifier(offlineVerifier(root));
                if (time != null) {
                    validator.setValidationTime(time);
                }
                Reports reports = validator.validateDocument(policy);
                describe(reports, entry);
            } catch (Exception e) {
                entry.put("error", stackTrace(e));
            }
            out.add(entry);
        }
        return out;
    }

    /** Nothing is fetched: no AIA, OCSP or CRL source; the given root is the only anchor. */
    private static CommonCertificateVerifier offlineVerifier(CertificateToken root) {
        CommonCertificateVerifier verifier = new CommonCertificateVerifier();
        verifier.setAIASource(null);
        verifier.setOcspSource(null);
        verifier.setCrlSource(null);
        verifier.setTrustedCertSources(trusted(root));
        return verifier;
    }

    private static CommonTrustedCertificateSource trusted(CertificateToken root) {
        CommonTrustedCertificateSource trusted = new CommonTrustedCertificateSource();
        trusted.addCertificate(root);
        return trusted;
    }

    private static ValidationPolicy policy(String name) throws Exception {
        return switch (name) {
            case "default" -> ValidationPolicyLoader.fromDefaultValidationPolicy().create();
            case "strict" -> ValidationPolicyLoader.fromValidationPolicy(new ByteArrayInputStream(strictPolicy()))
                    .withDefaultCryptographicSuite()
                    .create();
            default -> ValidationPolicyLoader.fromValidationPolicy(new File(name))
                    .withDefaultCryptographicSuite()
                    .create();
        };
    }

    /** DSS's default policy with {@link #STRICT_CHECKS} at FAIL, for signatures and timestamps. */
    static byte[] strictPolicy() throws Exception {
        Document doc;
        try (InputStream in = ValidationPolicyLoader.class.getResourceAsStream("/policy/constraint.xml")) {
            if (in == null) {
                throw new IllegalStateException("DSS's default policy is not on the class path");
            }
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setNamespaceAware(true);
            doc = factory.newDocumentBuilder().parse(in);
        }
        int changed = 0;
        for (String check : STRICT_CHECKS) {
            NodeList nodes = doc.getElementsByTagNameNS("*", check);
            for (int i = 0; i < nodes.getLength(); i++) {
                ((Element) nodes.item(i)).setAttribute("Level", "FAIL");
                changed++;
            }
        }
        if (changed < STRICT_CHECKS.size()) {
            throw new IllegalStateException("DSS's default policy lacks one of " + STRICT_CHECKS);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        TransformerFactory.newInstance().newTransformer().transform(new DOMSource(doc), new StreamResult(out));
        return out.toByteArray();
    }

    private static void describe(Reports reports, Map<String, Object> entry) {
        SimpleReport simple = reports.getSimpleReport();
        DiagnosticData diagnostic = reports.getDiagnosticData();
        entry.put("validation_time", simple.getValidationTime().toInstant().toString());
        List<Map<String, Object>> signatures = new ArrayList<>();
        for (String id : simple.getSignatureIdList()) {
            Map<String, Object> sig = new LinkedHashMap<>();
            sig.put("id", id);
            sig.put("indication", String.valueOf(simple.getIndication(id)));
            sig.put("subindication", simple.getSubIndication(id) == null ? null : simple.getSubIndication(id).name());
            SignatureLevel level = simple.getSignatureFormat(id);
            sig.put("level", level == null ? null : level.name());
            sig.put("signed_by", simple.getSignedBy(id));
            sig.put("errors", messages(simple.getAdESValidationErrors(id)));
            sig.put("warnings", messages(simple.getAdESValidationWarnings(id)));
            sig.put("infos", messages(simple.getAdESValidationInfo(id)));
            List<Map<String, Object>> timestamps = new ArrayList<>();
            for (XmlTimestamp ts : simple.getSignatureTimestamps(id)) {
                timestamps.add(timestamp(ts, diagnostic));
            }
            sig.put("timestamps", timestamps);
            signatures.add(sig);
        }
        entry.put("signatures", signatures);
        // Document timestamps DSS does not attach to a signature (e.g. in a file without one).
        List<Map<String, Object>> detached = new ArrayList<>();
        for (XmlTimestamp ts : simple.getJaxbModel().getSignatureOrTimestampOrEvidenceRecord().stream()
                .filter(XmlTimestamp.class::isInstance)
                .map(XmlTimestamp.class::cast)
                .toList()) {
            detached.add(timestamp(ts, diagnostic));
        }
        entry.put("timestamps", detached);
        entry.put("detailed_messages", detailedMessages(reports));
    }

    /**
     * Every error, warning and info of the detailed report, each building block and sub-block
     * (certificate chains, revocation data) included, once: the simple report keeps only
     * what reaches a conclusion, and a test must see e.g. a missing revocation access point.
     */
    private static List<Map<String, String>> detailedMessages(Reports reports) {
        Map<String, Map<String, String>> unique = new LinkedHashMap<>();
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setNamespaceAware(true);
            Document doc = factory.newDocumentBuilder()
                    .parse(new ByteArrayInputStream(reports.getXmlDetailedReport().getBytes(StandardCharsets.UTF_8)));
            for (String level : List.of("Error", "Warning", "Info")) {
                NodeList nodes = doc.getElementsByTagNameNS("*", level);
                for (int i = 0; i < nodes.getLength(); i++) {
                    Element e = (Element) nodes.item(i);
                    Map<String, String> m = new LinkedHashMap<>();
                    m.put("level", level.toLowerCase(java.util.Locale.ROOT));
                    m.put("key", e.getAttribute("Key"));
                    m.put("value", e.getTextContent());
                    unique.putIfAbsent(level + "|" + m.get("key") + "|" + m.get("value"), m);
                }
            }
        } catch (Exception e) {
            throw new IllegalStateException("cannot read DSS's detailed report", e);
        }
        return new ArrayList<>(unique.values());
    }

    private static Map<String, Object> timestamp(XmlTimestamp ts, DiagnosticData diagnostic) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("id", ts.getId());
        TimestampWrapper wrapper = diagnostic.getTimestampById(ts.getId());
        out.put("type", wrapper == null ? null : wrapper.getType().name());
        out.put("indication", String.valueOf(ts.getIndication()));
        out.put("subindication", ts.getSubIndication() == null ? null : ts.getSubIndication().name());
        out.put("level", ts.getTimestampLevel() == null ? null : ts.getTimestampLevel().getValue().name());
        out.put("production_time", ts.getProductionTime() == null ? null : ts.getProductionTime().toInstant().toString());
        out.put("produced_by", ts.getProducedBy());
        XmlDetails details = ts.getAdESValidationDetails();
        out.put("errors", details == null ? List.of() : xmlMessages(details.getError()));
        out.put("warnings", details == null ? List.of() : xmlMessages(details.getWarning()));
        out.put("infos", details == null ? List.of() : xmlMessages(details.getInfo()));
        return out;
    }

    private static List<Map<String, String>> messages(List<Message> messages) {
        List<Map<String, String>> out = new ArrayList<>();
        for (Message m : messages) {
            out.add(Map.of("key", String.valueOf(m.getKey()), "value", String.valueOf(m.getValue())));
        }
        return out;
    }

    private static List<Map<String, String>> xmlMessages(List<XmlMessage> messages) {
        List<Map<String, String>> out = new ArrayList<>();
        for (XmlMessage m : messages) {
            out.add(Map.of("key", String.valueOf(m.getKey()), "value", String.valueOf(m.getValue())));
        }
        return out;
    }

    // ---- extend --------------------------------------------------------------------------

    private static List<Map<String, Object>> extend(Map<String, String> options, List<String> files)
            throws Exception {
        CertificateToken root = DSSUtils.loadCertificate(new File(required(options, "root")));
        String tsa = loopbackOnly(required(options, "tsa"));
        Path outDir = Path.of(required(options, "out-dir"));
        Files.createDirectories(outDir);

        CommonCertificateVerifier verifier = new CommonCertificateVerifier();
        verifier.setTrustedCertSources(trusted(root));
        verifier.setAIASource(new DefaultAIASource(new LoopbackLoader()));
        verifier.setOcspSource(new OnlineOCSPSource(new LoopbackOcspLoader()));
        verifier.setCrlSource(new OnlineCRLSource(new LoopbackLoader()));
        // Missing revocation data must stop the extension, not give a file that lacks it.
        verifier.setAlertOnMissingRevocationData(new ExceptionOnStatusAlert());
        PAdESService service = new PAdESService(verifier);
        service.setTspSource(new OnlineTSPSource(tsa, new LoopbackTsaLoader()));

        List<Map<String, Object>> out = new ArrayList<>();
        for (String file : files) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("file", file);
            try {
                PAdESSignatureParameters parameters = new PAdESSignatureParameters();
                parameters.setSignatureLevel(SignatureLevel.PAdES_BASELINE_LTA);
                DSSDocument extended = service.extendDocument(new FileDocument(file), parameters);
                Path target = outDir.resolve(Path.of(file).getFileName());
                try (InputStream in = extended.openStream()) {
                    Files.write(target, in.readAllBytes());
                }
                entry.put("out", target.toString());
            } catch (Exception e) {
                entry.put("error", stackTrace(e));
            }
            out.add(entry);
        }
        return out;
    }

    /** `extend` may fetch only from this machine: the project's services in a test. */
    static String loopbackOnly(String url) {
        String host = URI.create(url).getHost();
        if (!"127.0.0.1".equals(host)) {
            throw new DSSExternalResourceException("refused a non-loopback URL: " + url);
        }
        return url;
    }

    static final class LoopbackLoader extends CommonsDataLoader {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] get(String url) {
            return super.get(loopbackOnly(url));
        }

        @Override
        public byte[] post(String url, byte[] content) {
            return super.post(loopbackOnly(url), content);
        }
    }

    static final class LoopbackOcspLoader extends OCSPDataLoader {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] get(String url) {
            return super.get(loopbackOnly(url));
        }

        @Override
        public byte[] post(String url, byte[] content) {
            return super.post(loopbackOnly(url), content);
        }
    }

    static final class LoopbackTsaLoader extends TimestampDataLoader {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] get(String url) {
            return super.get(loopbackOnly(url));
        }

        @Override
        public byte[] post(String url, byte[] content) {
            return super.post(loopbackOnly(url), content);
        }
    }

    static String stackTrace(Throwable e) {
        StringWriter text = new StringWriter();
        e.printStackTrace(new PrintWriter(text));
        return text.toString();
    }
}
