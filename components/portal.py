"""``TenantPortal``: the tenant web portal (``portal/``) on a private S3 bucket behind CloudFront.

- The bucket is private: every public access blocked, ``BucketOwnerEnforced`` (no ACLs), SSE-S3,
  TLS only. Its policy lets exactly one principal read objects: CloudFront, for this distribution
  only (``AWS:SourceArn``), through Origin Access Control (SigV4-signed origin requests; the legacy
  origin access identity is not used).
- The distribution serves HTTPS only (HTTP redirects), ``index.html`` as the default root object,
  with the managed ``CachingOptimized`` policy (no query string, header or cookie in the cache key
  or the origin request: the ``?token=`` of a magic link never reaches S3 or a cache key) and a
  response headers policy carrying the security headers of :func:`components.specs.portal.security_headers`.
- Every file under ``portal/`` is an object with its content type; ``config.json`` is generated
  from the self-service API's URL and ``hookstack:portal.theme``.

See docs/portal.md (embedding, theming, the security headers and why ``connect-src`` names the
region's API Gateway domain rather than the API's own origin).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.common import child, policy_json
from components.config import PortalSettings
from components.policy_documents import tls_only_statement
from components.specs.portal import (
    CACHE_CONTROL,
    CONFIG_CACHE_CONTROL,
    CONFIG_FILE,
    CONTENT_TYPES,
    HSTS_MAX_AGE_SECONDS,
    INDEX_DOCUMENT,
    content_security_policy,
    execute_api_source,
    portal_config,
    portal_files,
)

# AWS managed cache policy "Managed-CachingOptimized": nothing of the request in the cache key but
# the path (and the compression the viewer accepts).
CACHING_OPTIMIZED_POLICY_ID = "658327ea-f89d-4fab-a63d-7e88639e58f6"
PRICE_CLASS = "PriceClass_100"  # North America and Europe edges: the cheapest; the portal is small and cached


@dataclass
class TenantPortalArgs:
    settings: PortalSettings
    api_url: pulumi.Input[str] | None = None
    """The self-service API's base URL (config.json's ``apiBaseUrl``); ``None``: call
    :meth:`TenantPortal.publish_config` once the API exists (it answers CORS for :attr:`origin`)."""


class TenantPortal(pulumi.ComponentResource):
    def __init__(self, name: str, args: TenantPortalArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("hookstack:index:TenantPortal", name, None, opts)
        self.bucket = aws.s3.Bucket(f"{name}-site", opts=child(self))
        self.ownership = aws.s3.BucketOwnershipControls(
            f"{name}-site-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child(self),
        )
        self.public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-site-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child(self),
        )
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-site-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=(
                        aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                            sse_algorithm="AES256"
                        )
                    ),
                )
            ],
            opts=child(self),
        )
        self.origin_access_control = aws.cloudfront.OriginAccessControl(
            f"{name}-oac",
            description="hookstack tenant portal: CloudFront signs its requests to the site bucket",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child(self),
        )
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        self.headers_policy = self._headers_policy(name, region, args.settings)
        self.distribution = self._distribution(name)
        self.policy = aws.s3.BucketPolicy(
            f"{name}-site-policy",
            bucket=self.bucket.id,
            policy=policy_json(
                [
                    {
                        "Sid": "CloudFrontReadsThroughOriginAccessControl",
                        "Effect": "Allow",
                        "Principal": {"Service": "cloudfront.amazonaws.com"},
                        "Action": "s3:GetObject",
                        "Resource": pulumi.Output.concat(self.bucket.arn, "/*"),
                        "Condition": {"StringEquals": {"AWS:SourceArn": self.distribution.arn}},
                    },
                    tls_only_statement([self.bucket.arn, pulumi.Output.concat(self.bucket.arn, "/*")]),
                ]
            ),
            # S3 answers 409 when a policy is put while the public access block is being created.
            opts=child(self, depends_on=[self.public_access]),
        )
        self.objects = [
            aws.s3.BucketObjectv2(
                f"{name}-file-{key.replace('/', '-')}",
                bucket=self.bucket.id,
                key=key,
                source=pulumi.FileAsset(str(path)),
                content_type=content_type,
                cache_control=CACHE_CONTROL,
                opts=child(self, depends_on=[self.ownership, self.encryption]),
            )
            for key, path, content_type in portal_files()
        ]
        self._name, self._settings = name, args.settings
        self.config_object: aws.s3.BucketObjectv2 | None = None
        if args.api_url is not None:
            self.publish_config(args.api_url)
        self.url = pulumi.Output.concat("https://", self.distribution.domain_name, "/")
        self.origin = pulumi.Output.concat("https://", self.distribution.domain_name)
        """What the self-service API's CORS configuration allows."""
        self.register_outputs({"url": self.url, "bucket": self.bucket.id})

    def publish_config(self, api_url: pulumi.Input[str]) -> aws.s3.BucketObjectv2:
        """``config.json``: the self-service API's URL and the theme (once per portal)."""
        if self.config_object is not None:
            raise ValueError("the portal's config.json is already published")
        self.config_object = aws.s3.BucketObjectv2(
            f"{self._name}-file-config",
            bucket=self.bucket.id,
            key=CONFIG_FILE,
            content=pulumi.Output.from_input(api_url).apply(lambda url: portal_config(url, self._settings)),
            content_type=CONTENT_TYPES[".json"],
            cache_control=CONFIG_CACHE_CONTROL,
            opts=child(self, depends_on=[self.ownership, self.encryption]),
        )
        return self.config_object

    def _headers_policy(
        self, name: str, region: pulumi.Input[str], settings: PortalSettings
    ) -> aws.cloudfront.ResponseHeadersPolicy:
        # X-Frame-Options cannot name another origin: DENY without embedders, none with them (CSP
        # frame-ancestors decides; components.specs.portal.security_headers is the same rule).
        frame_options = (
            None
            if settings.frame_ancestors
            else aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigFrameOptionsArgs(
                frame_option="DENY", override=True
            )
        )
        csp = pulumi.Output.from_input(region).apply(
            lambda r: content_security_policy(execute_api_source(r), settings.frame_ancestors)
        )
        return aws.cloudfront.ResponseHeadersPolicy(
            f"{name}-headers",
            comment="hookstack tenant portal: security headers",
            security_headers_config=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigArgs(
                content_security_policy=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigContentSecurityPolicyArgs(
                    content_security_policy=csp, override=True
                ),
                content_type_options=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigContentTypeOptionsArgs(
                    override=True
                ),
                frame_options=frame_options,
                referrer_policy=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigReferrerPolicyArgs(
                    referrer_policy="no-referrer", override=True
                ),
                strict_transport_security=aws.cloudfront.ResponseHeadersPolicySecurityHeadersConfigStrictTransportSecurityArgs(
                    access_control_max_age_sec=HSTS_MAX_AGE_SECONDS, include_subdomains=True, override=True
                ),
            ),
            opts=child(self),
        )

    def _distribution(self, name: str) -> aws.cloudfront.Distribution:
        origin_id = "site"
        return aws.cloudfront.Distribution(
            f"{name}-cdn",
            enabled=True,
            comment="hookstack tenant portal",
            default_root_object=INDEX_DOCUMENT,
            http_version="http2and3",
            is_ipv6_enabled=True,
            price_class=PRICE_CLASS,
            origins=[
                aws.cloudfront.DistributionOriginArgs(
                    origin_id=origin_id,
                    domain_name=self.bucket.bucket_regional_domain_name,
                    origin_access_control_id=self.origin_access_control.id,
                )
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id=origin_id,
                viewer_protocol_policy="redirect-to-https",
                allowed_methods=["GET", "HEAD"],
                cached_methods=["GET", "HEAD"],
                compress=True,
                cache_policy_id=CACHING_OPTIMIZED_POLICY_ID,
                response_headers_policy_id=self.headers_policy.id,
            ),
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(restriction_type="none")
            ),
            viewer_certificate=aws.cloudfront.DistributionViewerCertificateArgs(cloudfront_default_certificate=True),
            opts=child(self),
        )
